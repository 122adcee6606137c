"""Reference data of the simulated city: departments, the service item catalogue with its
"一件事" bundles, names, hotline topics. Invented but shaped like Ganzhou's real catalogue."""

from __future__ import annotations

from dataclasses import dataclass

# Department codes are readable short codes of the implementing agency (实施部门编码).
DEPARTMENTS: dict[str, str] = {
    "GA": "赣州市公安局",
    "RS": "赣州市人力资源和社会保障局",
    "YB": "赣州市医疗保障局",
    "MZ": "赣州市民政局",
    "SJ": "赣州市市场监督管理局",
    "SW": "国家税务总局赣州市税务局",
    "BDC": "赣州市不动产登记中心",
    "ZJ": "赣州市住房和城乡建设局",
    "JT": "赣州市交通运输局",
    "WJ": "赣州市卫生健康委员会",
    "JY": "赣州市教育局",
    "CL": "赣州市残疾人联合会",
    "SP": "赣州市行政审批局",
    "GJJ": "赣州市住房公积金管理中心",
    "TY": "赣州市退役军人事务局",
}

BUNDLES: dict[str, str] = {
    "YJS01": "新生儿出生一件事",
    "YJS02": "企业开办一件事",
    "YJS03": "退休一件事",
    "YJS04": "身后一件事",
    "YJS05": "残疾人服务一件事",
    "YJS06": "二手房转移登记及水电气联动过户一件事",
    "YJS07": "教育入学一件事",
}


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    item_type: str  # XK QR JF GG QT
    dept: str
    applicant: str  # 1 person, 2 enterprise
    statutory_days: int
    committed_days: int  # 0 = 即办件
    high_frequency: bool
    fully_online: bool
    needs_certificate: bool
    max_visits: int
    cross_province: bool
    bundle: str | None
    weight: float  # relative demand
    city_level_share: float = 0.1  # share handled by 市本级 offices (region 360700)


def _i(code, name, t, dept, app, fd, cn, hf, qc, zz, pd, ks, bundle, w, city=0.1):
    return Item(code, name, t, dept, app, fd, cn, hf, qc, zz, pd, ks, bundle, w, city)


# One item a line reads like the catalogue it stands for.
# fmt: off
ITEMS: tuple[Item, ...] = (
    _i('GAQR0001', '居民身份证换领', 'QR', 'GA', '1', 30, 15, True, False, True, 1, True, None, 9),
    _i('GAQR0002', '户口迁移登记', 'QR', 'GA', '1', 20, 5, True, True, True, 0, True, None, 5),
    _i('GAQR0003', '出生户口登记', 'QR', 'GA', '1', 20, 3, True, True, True, 0, False, 'YJS01', 2),
    _i('GAQR0004', '死亡户口注销', 'QR', 'GA', '1', 20, 1, False, True, True, 0, False, 'YJS04', 1),
    _i('GAXK0005', '机动车驾驶证换证', 'XK', 'GA', '1', 20, 1, True, True, True, 0, True, None, 6),
    _i('GAGG0006', '无犯罪记录证明开具', 'GG', 'GA', '1', 10, 0, True, True, True, 0, True, None, 4),
    _i('GAQR0007', '印章刻制备案', 'QR', 'GA', '2', 5, 0, False, True, True, 0, False, 'YJS02', 1),
    _i('RSGG0001', '社会保障卡申领', 'GG', 'RS', '1', 20, 5, True, True, True, 0, True, 'YJS01', 6),
    _i('RSQR0002', '城乡居民养老保险参保登记', 'QR', 'RS', '1', 10, 0, True, True, True, 0, False, None, 5),
    _i('RSJF0003', '职工正常退休申请', 'JF', 'RS', '1', 30, 10, True, True, True, 0, True, 'YJS03', 3),
    _i('RSJF0004', '丧葬补助金和抚恤金申领', 'JF', 'RS', '1', 20, 5, False, True, True, 0, False, 'YJS04', 1),
    _i('RSQR0005', '单位社会保险登记', 'QR', 'RS', '2', 10, 0, False, True, True, 0, False, 'YJS02', 1),
    _i('RSJF0006', '失业保险金申领', 'JF', 'RS', '1', 15, 5, True, True, True, 0, True, None, 3),
    _i('YBQR0001', '基本医疗保险参保登记', 'QR', 'YB', '1', 10, 0, True, True, True, 0, False, 'YJS01', 5),
    _i('YBGG0002', '异地就医备案', 'GG', 'YB', '1', 5, 0, True, True, False, 0, True, None, 7),
    _i('YBJF0003', '门诊慢特病待遇认定', 'JF', 'YB', '1', 20, 10, True, False, True, 1, False, None, 3),
    _i('YBQR0004', '退休人员医保待遇核定', 'QR', 'YB', '1', 20, 5, False, True, True, 0, False, 'YJS03', 1),
    _i('MZQR0001', '结婚登记', 'QR', 'MZ', '1', 1, 0, True, False, True, 1, False, None, 3, 0.0),
    _i('MZJF0002', '最低生活保障申请', 'JF', 'MZ', '1', 30, 20, True, False, True, 1, False, None, 2),
    _i('MZJF0003', '残疾人两项补贴申请', 'JF', 'MZ', '1', 30, 15, False, True, True, 0, False, 'YJS05', 1),
    _i('MZJF0004', '高龄津贴申领', 'JF', 'MZ', '1', 20, 10, True, True, True, 0, False, None, 2),
    _i('SJXK0001', '企业设立登记', 'XK', 'SJ', '2', 15, 1, True, True, True, 0, True, 'YJS02', 4),
    _i('SJXK0002', '个体工商户设立登记', 'XK', 'SJ', '1', 15, 1, True, True, True, 0, False, None, 5),
    _i('SJXK0003', '食品经营许可', 'XK', 'SJ', '2', 20, 5, True, False, True, 1, False, None, 3),
    _i('SJQT0004', '企业变更登记', 'QT', 'SJ', '2', 15, 1, True, True, True, 0, True, None, 4),
    _i('SJXK0005', '企业注销登记', 'XK', 'SJ', '2', 20, 3, False, True, True, 0, False, None, 2),
    _i('SWGG0001', '新办纳税人涉税事项', 'GG', 'SW', '2', 5, 0, True, True, True, 0, False, 'YJS02', 2),
    _i('SWQR0002', '个人所得税综合所得汇算', 'QR', 'SW', '1', 10, 0, True, True, False, 0, True, None, 6),
    _i('SWQR0003', '契税申报', 'QR', 'SW', '1', 5, 0, True, True, True, 0, False, 'YJS06', 2),
    _i('BDCQR0001', '不动产转移登记', 'QR', 'BDC', '1', 30, 5, True, False, True, 1, False, 'YJS06', 4),
    _i('BDCQR0002', '不动产抵押登记', 'QR', 'BDC', '1', 30, 3, True, True, True, 0, False, None, 3),
    _i('BDCGG0003', '不动产登记资料查询', 'GG', 'BDC', '1', 5, 0, True, True, True, 0, True, None, 4),
    _i('ZJXK0001', '建筑工程施工许可', 'XK', 'ZJ', '2', 20, 7, False, True, True, 0, False, None, 1, 0.5),
    _i('ZJGG0002', '公共租赁住房申请', 'GG', 'ZJ', '1', 30, 20, False, False, True, 1, False, None, 1),
    _i('JTXK0001', '道路运输经营许可', 'XK', 'JT', '2', 20, 10, False, True, True, 0, False, None, 1, 0.6),
    _i('WJQR0001', '出生医学证明办理', 'QR', 'WJ', '1', 10, 0, True, False, True, 1, False, 'YJS01', 2),
    _i('WJXK0002', '医师执业注册', 'XK', 'WJ', '1', 20, 10, False, True, True, 0, False, None, 1, 0.6),
    _i('JYGG0001', '义务教育入学报名', 'GG', 'JY', '1', 20, 10, True, True, True, 0, False, 'YJS07', 4),
    _i('JYQR0002', '教师资格认定', 'QR', 'JY', '1', 30, 20, False, True, True, 0, False, None, 1, 0.7),
    _i('CLQR0001', '残疾人证新办', 'QR', 'CL', '1', 30, 20, False, False, True, 1, False, 'YJS05', 1),
    _i('SPXK0001', '建设项目用地预审', 'XK', 'SP', '2', 20, 10, False, True, True, 0, False, None, 0.5, 0.8),
    _i('SPXK0002', '药品零售企业许可', 'XK', 'SP', '2', 30, 15, False, True, True, 0, False, None, 0.5, 0.5),
    _i('GJJJF0001', '住房公积金提取(购房)', 'JF', 'GJJ', '1', 5, 1, True, True, True, 0, True, None, 6),
    _i('GJJJF0002', '住房公积金退休提取', 'JF', 'GJJ', '1', 5, 1, False, True, True, 0, False, 'YJS03', 1),
    _i('GJJJF0003', '住房公积金死亡提取', 'JF', 'GJJ', '1', 5, 3, False, True, True, 0, False, 'YJS04', 1),
    _i('GJJQR0004', '单位住房公积金缴存登记', 'QR', 'GJJ', '2', 5, 0, False, True, True, 0, False, 'YJS02', 1),
    _i('TYJF0001', '退役军人优待证申领', 'JF', 'TY', '1', 20, 10, False, True, True, 0, False, None, 0.5),
)
# fmt: on

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严赖"
)
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞斌宇浩凯婷雪琳晨欣怡佳俊"
    "峰志亮海波荣芬燕春梅林晓东鑫鹤颖慧琴云莉倩瑞然欢家豪子轩梓涵思雨浩然诗语可馨宇航一诺梦琪金龙"
    "振华德福庆生福根水秀英冬香桂花发财永红"
)
# Characters outside GBK that real names carry (D14); preserved byte-exact end to end.
RARE_CHARS = ("𠇔", "䶮", "𬌗", "𡒄", "𪚥")

HOTLINE_TOPICS = (
    "社保",
    "医保",
    "户籍",
    "营商环境",
    "城市管理",
    "交通",
    "教育",
    "住房",
    "环境保护",
    "市场监管",
)
HOTLINE_TOPIC_DEPT = {
    "社保": "RS",
    "医保": "YB",
    "户籍": "GA",
    "营商环境": "SJ",
    "城市管理": "ZJ",
    "交通": "JT",
    "教育": "JY",
    "住房": "ZJ",
    "环境保护": "ZJ",
    "市场监管": "SJ",
}

# Opinions are written where an officer decides something; other steps carry none.
STEP_OPINIONS = {
    "BZ": "材料不齐全,请补正",
    "BSL": "不属于本机关职权范围,不予受理",
    "JD": "准予办理",
    "CH": "申请人主动撤回",
}
RATING_TEXT = {
    "5": ("办事效率高,服务热情", "非常方便,点赞", ""),
    "4": ("整体满意", "流程清楚", ""),
    "3": ("还可以", "等待时间有点长", ""),
    "2": ("材料反复提交,不满意", "窗口排队时间长"),
    "1": ("多次跑腿仍未办成", "工作人员态度差"),
}
